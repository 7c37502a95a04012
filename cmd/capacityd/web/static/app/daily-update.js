// COVID-19 Update (Daily): the extra hours box shows only after "Yes" (the
// design system's conditional radios). The guide asks for 0 in the box
// when no extra hours can be given, so choosing "No", which hides the box,
// puts the 0 there for the person. Without JavaScript the box is always
// shown and they type it.
for (const no of document.querySelectorAll('[data-no-extra-hours]')) {
  no.addEventListener('change', () => {
    const box = no.form.querySelector('[data-extra-hours]')
    if (no.checked && box) box.value = '0'
  })
}
