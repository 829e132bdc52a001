// One model (#/models/NAME): its versions with their metrics beside the baselines, its
// aliases with their history (set, move, remove, roll back), and a predict panel with
// asynchronous prediction jobs (for an adapter of the assistant, a note that it answers in the
// chat instead). Every section reloads what it shows after a change.

import { api } from "../../api.js";
import { errorBox, fill, h, time } from "../../ui.js";
import { adapterCard, isAdapter } from "./adapter.js";
import { aliasesCard } from "./aliases.js";
import { predictCard } from "./predict.js";
import { versionsCard } from "./versions.js";

const VERSIONS_PAGE = 50;

export async function renderDetail(main, { params }) {
  const name = params[0];
  const path = `/models/${encodeURIComponent(name)}`;
  const model = {
    name, path, record: null, versions: { data: [], total: 0, offset: 0 },
    /** Load the model and the page of versions shown, then redraw every section. */
    async reload() {
      const [record, versions] = await Promise.all([
        api.get(path),
        api.get(`${path}/versions`, { offset: model.versions.offset, limit: VERSIONS_PAGE }),
      ]);
      model.record = record;
      model.versions = { ...versions, offset: model.versions.offset };
      drawHead();
      for (const section of sections) section.update();
    },
    /** A version's record: from the page shown, else asked for. */
    async version(number) {
      return model.versions.data.find((v) => v.version === number) || api.get(`${path}/versions/${number}`);
    },
    limit: VERSIONS_PAGE,
  };

  try {
    model.record = await api.get(path);
    model.versions = { ...(await api.get(`${path}/versions`, { limit: VERSIONS_PAGE })), offset: 0 };
  } catch (error) {
    fill(main, errorBox(error, error.status === 404 ? "No such model" : "The model could not be loaded"),
      h("a", { href: "#/models" }, "All models"));
    return () => {};
  }

  const head = h("div", { class: "page-head" });
  const adapters = model.versions.data.some(isAdapter);
  const sections = [versionsCard(model), aliasesCard(model), adapters ? adapterCard(model) : predictCard(model)];
  fill(main, head, sections.map((section) => section.element));

  function drawHead() {
    const record = model.record;
    fill(head,
      h("h1", {}, h("a", { href: "#/models", class: "muted" }, "Models"), " / ", record.name),
      h("span", { class: "sub" },
        record.description ? [record.description, " · "] : null,
        `${record.latest_version ? `latest v${record.latest_version}` : "no version yet"} · created ${time(record.created_at)} · updated ${time(record.updated_at)}`));
  }

  drawHead();
  for (const section of sections) section.update();
  return () => {
    for (const section of sections) section.stop?.();
  };
}
