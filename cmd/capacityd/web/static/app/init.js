// Starts the NHS design system's components (its documented initAll). The
// pages work without it: it only enhances (error summary focus, password
// show/hide, header menu, and My Access's "Select All / None" in place of
// its round trip to the server).
import { initAll } from './nhsuk-frontend.min.js'

initAll()

for (const button of document.querySelectorAll('[data-select-all]')) {
  button.addEventListener('click', (event) => {
    event.preventDefault()
    const boxes = [...button.form.querySelectorAll('input[name="location_ids"]:not(:disabled)')]
    const all = boxes.every((box) => box.checked)
    for (const box of boxes) box.checked = !all
  })
}

import './edit-provider.js'
import './daily-update.js'
