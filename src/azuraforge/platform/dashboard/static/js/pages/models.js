// Models: the registry's models (#/models) and one model (#/models/NAME) with its versions,
// aliases, predict panel and prediction jobs; the parts live in pages/models/.

export { renderList } from "./models/list.js";
export { renderDetail } from "./models/detail.js";
