// Studies: every hyper-parameter study (#/studies), a new one with its search space
// (#/studies/new), and one study live (#/studies/ID); the parts live in pages/studies/.

export { renderList } from "./studies/list.js";
export { renderNew } from "./studies/new.js";
export { renderDetail } from "./studies/detail.js";
