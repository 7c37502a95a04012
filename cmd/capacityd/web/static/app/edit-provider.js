// Edit Provider and Care Quality: the guide's reminder prompt. A form
// marked data-unsaved-warning that was changed and not saved makes
// leaving the page ask first (the browser's own "Leave site?" dialog).
// A form shown again with what the person typed (its errors, or someone
// else's change) is marked data-unsaved: it counts as changed from the
// start. Without JavaScript nothing is lost that was saved: each section
// saves on its own button.
const forms = [...document.querySelectorAll('form[data-unsaved-warning]')]

if (forms.length > 0) {
  const snapshot = (form) => new URLSearchParams(new FormData(form)).toString()
  const loaded = new Map(forms.map((form) => [form, form.hasAttribute('data-unsaved') ? null : snapshot(form)]))
  let submitting = false

  for (const form of forms) {
    form.addEventListener('submit', () => { submitting = true })
  }

  window.addEventListener('beforeunload', (event) => {
    if (submitting) return
    if (forms.some((form) => snapshot(form) !== loaded.get(form))) {
      event.preventDefault()
      // Older browsers show the dialog only when returnValue is set.
      event.returnValue = ''
    }
  })
}
