// The assistant learning from use, for the project's editors and admins: its failures made
// training examples, reviewed and fine-tuned on (#/assist/examples), and its nightly passes
// with their reports (#/assist/nights); the parts live in pages/assist/.

export { renderExamples } from "./assist/examples.js";
export { renderNights } from "./assist/nights.js";
