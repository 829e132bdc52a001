// Streams: every stream of the project (#/streams) and one stream live (#/streams/ID): its
// champion and candidate, their test, its curves beside the trivial rules with the loop's
// changes marked, its lineage, its scores and trading figures over a window, and the manual
// triggers; a form to start one (#/streams/new); the parts live in pages/streams/.

export { renderList } from "./streams/list.js";
export { renderNew } from "./streams/new.js";
export { renderDetail } from "./streams/detail.js";
