// Starts the NHS design system's components (its documented initAll). The
// pages work without it: it only enhances (error summary focus, password
// show/hide, header menu).
import { initAll } from './nhsuk-frontend.min.js'

initAll()
