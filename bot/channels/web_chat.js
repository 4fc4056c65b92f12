// The easel web chat: one conversation per browser (its cookie), streamed turns.
"use strict";
const log = document.getElementById("log");
const form = document.getElementById("form");
const input = document.getElementById("text");
const fileInput = document.getElementById("file");
const attached = document.getElementById("attached");
const announce = document.getElementById("announce");
const MAX_UPLOAD = 3 * 1024 * 1024;
let attachment = null; // {dataUrl, name}

// ---- small helpers ----------------------------------------------------------------------
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function button(label, onClick, extra) {
  return el("button", {type: "button", textContent: label, onclick: onClick, ...(extra || {})});
}

// The palette icon as an SVG element: it must not depend on an emoji font.
function paletteIcon() {
  const img = el("img", {src: "/favicon.svg", alt: "", className: "icon"});
  img.setAttribute("aria-hidden", "true");
  return img;
}

// Text from easel, with its leading 🎨 drawn as the icon.
function textNode(text) {
  const span = el("span");
  if (text.startsWith("🎨")) {
    span.append(paletteIcon(), text.slice(2).trimStart());
  } else {
    span.append(...markup(text));
  }
  return span;
}

// The little Markdown replies use (```blocks```, **bold**, `code`), as elements: the text
// itself is never parsed as HTML.
function markup(text) {
  const out = [];
  text.split(/(```[\s\S]*?```)/).forEach((part) => {
    if (part.startsWith("```") && part.endsWith("```") && part.length >= 6) {
      out.push(el("pre", {textContent: part.slice(3, -3).replace(/^\n/, "")}));
      return;
    }
    part.split(/(\*\*[^*\n]+\*\*|`[^`\n]+`)/).forEach((bit) => {
      if (bit.startsWith("**") && bit.endsWith("**") && bit.length > 4) {
        out.push(el("strong", {textContent: bit.slice(2, -2)}));
      } else if (bit.startsWith("`") && bit.endsWith("`") && bit.length > 2) {
        out.push(el("code", {textContent: bit.slice(1, -1)}));
      } else if (bit) {
        out.push(document.createTextNode(bit));
      }
    });
  });
  return out;
}

function bubble(cls, ...children) {
  const div = el("div", {className: "msg " + cls}, ...children);
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function say(text) { announce.textContent = text; }

// ---- an arena battle: A and B side by side, names hidden, four vote buttons -------------------
function renderBattle(div, reply) {
  const grid = el("div", {className: "grid"});
  reply.images.forEach((im, i) => {
    const side = "AB"[i];
    grid.append(el("figure", {},
      el("img", {src: im.url, alt: `picture ${side}`, width: im.width, height: im.height}),
      el("figcaption", {textContent: side})));
  });
  const vote = (choice) => () => send(`/vote ${choice}`, reply.battle_id);
  div.append(grid, textNode(reply.text), el("div", {className: "actions"},
    button("A is better", vote("a")), button("B is better", vote("b")),
    button("Tie", vote("tie")), button("Both bad", vote("bad"))));
}

// ---- rendering a reply --------------------------------------------------------------------
function render(div, reply) {
  div.className = "msg easel " + reply.kind;
  div.replaceChildren();
  if (!reply.images.length) {
    div.append(textNode(reply.text));
    const draws = drawButtons(reply.text);
    if (draws) div.append(draws);
    return;
  }
  if (reply.battle_id) return renderBattle(div, reply);
  const grid = el("div", {className: "grid"});
  reply.images.forEach((im, i) => {
    const n = reply.images.length > 1 ? ` ${i + 1}` : "";
    const img = el("img", {src: im.url, alt: reply.prompt || "generated image",
                           width: im.width, height: im.height});
    const acts = el("div", {className: "actions"},
      button("Vary", () => send(`/vary${n || " 1"}`, reply.generation_id),
             {title: "Variations of this image"}),
      button("Edit…", () => {
        const how = window.prompt("How should it change? (e.g. make it red)");
        if (how && how.trim()) send(`/edit${n} ${how.trim()}`, reply.generation_id);
      }),
      el("a", {className: "button", href: im.url, download: `easel-${im.seed ?? i + 1}.png`,
               textContent: "Download", title: "The full-size image"}));
    if (reply.images.length > 1) {
      acts.append(button("Use this one", () => send(`/pick ${i + 1}`, reply.generation_id)));
    }
    const fig = el("figure", {});
    const stack = el("div", {className: "stack"}, img);
    acts.append(button("Region…", () => regionEditor(fig, stack, im, i + 1, reply.generation_id),
                       {title: "Paint or box the part to redraw; the rest stays"}));
    fig.append(stack, el("figcaption", {textContent: [`#${i + 1}`, im.seed === null ? null : `seed ${im.seed}`,
        `${im.width}×${im.height}`, reply.engine].filter(Boolean).join(" · ")}),
      acts, canvasActions(i + 1, reply.generation_id));
    grid.append(fig);
  });
  div.append(grid);
  // An images reply's text is a note about them (withheld ones, a size the engine rounded).
  if (reply.text) div.append(el("div", {className: "note"}, textNode(reply.text)));
  if (reply.prompt) {
    const prompt = reply.prompt;
    const copy = button("Copy prompt", async () => {
      try {
        await navigator.clipboard.writeText(prompt);
        copy.textContent = "Copied";
      } catch (e) {
        copy.textContent = "Select the prompt to copy it";
      }
      say("Prompt copied");
    });
    div.append(el("details", {},
      el("summary", {textContent: "Prompt used"}), el("span", {className: "prompt", textContent: prompt}),
      el("div", {className: "actions"}, copy)));
  }
  div.append(el("div", {className: "actions"},
    button("New takes", () => send("/vary", reply.generation_id)),
    button("Undo", () => send("/undo", reply.generation_id))));
}

// /describe's answer: "1. `/imagine …`" lines, each with a button that draws it.
function drawButtons(text) {
  const lines = (text || "").split("\n").map(l => l.match(/^(\d+)\. `(\/imagine [^`]+)`$/)).filter(Boolean);
  if (!lines.length) return null;
  return el("div", {className: "actions describe"}, ...lines.map(([, n, command]) =>
    button(`Draw ${n}`, () => send(command), {title: command})));
}

// Zoom out, pan and upscale: each a command about picture N of this reply.
function canvasActions(n, ref) {
  const act = (label, command, title, name) => {
    const b = button(label, () => send(command, ref), {title});
    if (name) b.setAttribute("aria-label", name);  // the arrows' words, for screen readers
    return b;
  };
  return el("div", {className: "actions canvas"},
    act("Zoom out 2×", `/zoom ${n} 2`, "Show more around it: the picture at half size, new surroundings drawn"),
    act("Zoom out 1.5×", `/zoom ${n} 1.5`, "Show a little more around it"),
    act("⬅", `/pan ${n} left`, "Extend the picture to the left", "Pan left"),
    act("➡", `/pan ${n} right`, "Extend the picture to the right", "Pan right"),
    act("⬆", `/pan ${n} up`, "Extend the picture upwards", "Pan up"),
    act("⬇", `/pan ${n} down`, "Extend the picture downwards", "Pan down"),
    act("Upscale 2×", `/upscale ${n} 2x subtle`, "Twice as large, the same picture"),
    act("Upscale 2× creative", `/upscale ${n} 2x creative`, "Twice as large, with new detail"));
}

// The region editor: paint (or drag a box) over the picture, say what goes there. The
// painting is sent as a mask the picture's size: white where it changes, black elsewhere.
function regionEditor(fig, stack, im, n, ref) {
  if (fig.querySelector(".region")) return;
  const paint = el("canvas", {width: im.width, height: im.height, className: "paint"});
  paint.setAttribute("aria-label", "the area to redraw");
  const pen = paint.getContext("2d");
  let mode = "brush", from = null, before = null, painted = false;
  const at = (e) => {
    const r = paint.getBoundingClientRect();
    return [(e.clientX - r.left) * paint.width / r.width, (e.clientY - r.top) * paint.height / r.height];
  };
  pen.fillStyle = pen.strokeStyle = "#fff";
  pen.lineCap = pen.lineJoin = "round";
  pen.lineWidth = Math.max(8, im.width / 12);
  paint.addEventListener("pointerdown", (e) => {
    paint.setPointerCapture(e.pointerId);
    from = at(e);
    before = pen.getImageData(0, 0, paint.width, paint.height);
    if (mode === "brush") { pen.beginPath(); pen.moveTo(...from); pen.lineTo(...from); pen.stroke(); }
    painted = true;
  });
  paint.addEventListener("pointermove", (e) => {
    if (!from) return;
    const [x, y] = at(e);
    if (mode === "brush") { pen.lineTo(x, y); pen.stroke(); return; }
    pen.putImageData(before, 0, 0);
    pen.fillRect(Math.min(from[0], x), Math.min(from[1], y), Math.abs(x - from[0]), Math.abs(y - from[1]));
  });
  paint.addEventListener("pointerup", () => { from = null; });
  stack.append(paint);
  const how = el("input", {type: "text", maxLength: 1000, placeholder: "What goes there? (e.g. a red balloon)"});
  how.setAttribute("aria-label", "What to draw in the painted area");
  const close = () => { paint.remove(); box.remove(); };
  const pick = (which) => () => { mode = which; brush.setAttribute("aria-pressed", which === "brush"); rect.setAttribute("aria-pressed", which === "box"); };
  const brush = button("Brush", pick("brush"), {title: "Paint the area to redraw"});
  const rect = button("Box", pick("box"), {title: "Drag a box around the area to redraw"});
  pick("brush")();
  const go = button("Redraw region", () => {
    if (!painted) { say("Paint the part to change first."); return; }
    if (!how.value.trim()) { say("Say what goes there."); how.focus(); return; }
    const mask = el("canvas", {width: paint.width, height: paint.height});
    const out = mask.getContext("2d");
    out.fillStyle = "#000";
    out.fillRect(0, 0, mask.width, mask.height);
    out.drawImage(paint, 0, 0);
    send(`/edit ${n} ${how.value.trim()}`, ref, mask.toDataURL("image/png"));
    close();
  });
  how.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); go.click(); } });
  const box = el("div", {className: "region actions"}, brush, rect,
    button("Clear", () => { pen.clearRect(0, 0, paint.width, paint.height); painted = false; }),
    how, go, button("Close", close));
  fig.append(box);
  how.focus();
  say("Paint over the part to change, then say what goes there.");
}

// Place in line, progress, preview and Cancel, under the working message.
function working(div, jobId) {
  const status = el("div", {className: "status"});
  const bar = el("progress", {hidden: true, max: 1, value: 0});
  bar.setAttribute("aria-label", "progress");
  const preview = el("img", {className: "preview", alt: "preview of the picture so far", hidden: true});
  const cancel = button("Cancel", () => { cancel.disabled = true; send(`/cancel ${jobId}`); });
  const box = el("div", {className: "job"}, status, bar, preview, el("div", {className: "actions"}, cancel));
  div.appendChild(box);
  return {box, status, bar, preview};
}

// ---- a turn -------------------------------------------------------------------------------
async function send(text, reference, mask) {
  const image = attachment;
  clearAttachment();
  const mine = bubble("you");
  if (image) mine.append(el("img", {src: image.dataUrl, alt: "your picture"}));
  if (text) mine.append(el("span", {textContent: text}));
  let current = bubble("easel", el("span", {textContent: "…"}));
  let job = null;
  try {
    const body = {text: text || "", reference: reference || null};
    if (image) body.image = image.dataUrl;
    if (mask) body.mask = mask;
    const resp = await fetch("/api/chat", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
    });
    if (!resp.ok) {
      const err = await resp.json().catch(() => ({error: resp.statusText}));
      render(current, {kind: "error", text: err.error || "something went wrong", images: []});
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += decoder.decode(value, {stream: true});
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const event = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (event.type === "queued" || event.type === "progress") {
          job = job || working(current, event.job);
          if (event.type === "queued") {
            job.status.textContent = `#${event.position} in line · about ${Math.round(event.eta_s)} s`;
          } else {
            job.status.textContent = `drawing · step ${event.step} of ${event.total}`;
            job.bar.hidden = false; job.bar.max = event.total; job.bar.value = event.step;
            if (event.preview) { job.preview.src = event.preview; job.preview.hidden = false; }
          }
        } else if (event.type === "message") {
          // A second message is the job's result: it replaces "working on it" in place.
          if (job) { job.box.remove(); job = null; }
          render(current, event.reply);
          if (event.reply.kind !== "text" || event.reply.images.length) say(event.reply.images.length ? "Your picture is ready" : event.reply.text);
        }
        log.scrollTop = log.scrollHeight;
      }
    }
  } catch (e) {
    render(current, {kind: "error", text: "easel could not be reached: " + e, images: []});
  }
}

// ---- pictures in: file picker, drag and drop, paste -------------------------------------
function clearAttachment() {
  attachment = null;
  attached.hidden = true;
  fileInput.value = "";
}

function attach(file) {
  if (!file || !/^image\/(png|jpeg|webp)$/.test(file.type)) { say("Attach a PNG, JPEG or WebP picture."); return; }
  if (file.size > MAX_UPLOAD) { say("That picture is over 3 MB."); return; }
  const reader = new FileReader();
  reader.onload = () => {
    attachment = {dataUrl: reader.result, name: file.name || "pasted picture"};
    document.getElementById("attached-img").src = attachment.dataUrl;
    document.getElementById("attached-name").textContent = attachment.name;
    attached.hidden = false;
    say("Picture attached. Say what to change, then send.");
    input.focus();
  };
  reader.readAsDataURL(file);
}

document.getElementById("attach").addEventListener("click", () => fileInput.click());
document.getElementById("attached-remove").addEventListener("click", () => { clearAttachment(); input.focus(); });
fileInput.addEventListener("change", () => attach(fileInput.files[0]));
form.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("dragging"); });
form.addEventListener("dragleave", () => form.classList.remove("dragging"));
form.addEventListener("drop", (e) => {
  e.preventDefault(); form.classList.remove("dragging");
  if (e.dataTransfer.files.length) attach(e.dataTransfer.files[0]);
});
input.addEventListener("paste", (e) => {
  const item = [...(e.clipboardData || {items: []}).items].find((i) => i.type.startsWith("image/"));
  if (item) { e.preventDefault(); attach(item.getAsFile()); }
});

// ---- the message box: Enter sends, Shift+Enter adds a line --------------------------------
function submit() {
  const text = input.value.trim();
  if (!text && !attachment) return;
  input.value = "";
  input.rows = 1;
  send(text, null);
}
form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
});
input.addEventListener("input", () => { input.rows = Math.min(6, input.value.split("\n").length); });

// ---- the conversation so far, after a reload -----------------------------------------------
(async () => {
  try {
    const resp = await fetch("/api/chat/history");
    if (!resp.ok) return;
    const {entries} = await resp.json();
    for (const entry of entries) {
      bubble("you", el("span", {textContent: entry.user}));
      render(bubble("easel"), entry.reply);
    }
    if (entries.length) say(`${entries.length} earlier picture${entries.length > 1 ? "s" : ""} restored`);
  } catch (e) { /* a fresh page works without its history */ }
})();
