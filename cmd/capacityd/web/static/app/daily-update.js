// COVID-19 Update (Daily): the extra hours box shows only after "Yes".
// The markup and styles are the design system's conditional radios, but
// not its script: that marks the radio aria-expanded, which a radio may
// not carry (axe-core's aria-allowed-attr), so the reveal is done here
// with the same class. Without JavaScript the box is always shown.
//
// The guide asks for 0 in the box when no extra hours can be given, so
// choosing "No", which hides the box, puts the 0 there for the person.
for (const yes of document.querySelectorAll('input[data-reveals]')) {
  const box = document.getElementById(yes.dataset.reveals)
  if (!box) continue
  const group = [...yes.form.querySelectorAll('input[type="radio"]')].filter((r) => r.name === yes.name)
  const sync = () => box.classList.toggle('nhsuk-radios__conditional--hidden', !yes.checked)
  for (const radio of group) {
    radio.addEventListener('change', () => {
      sync()
      if (radio !== yes && radio.checked) {
        for (const input of box.querySelectorAll('input[data-zero-when-hidden]')) input.value = '0'
      }
    })
  }
  window.addEventListener('pageshow', sync)
  sync()
}
