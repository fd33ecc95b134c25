// openread's try-it page. Plain modern JavaScript, no dependencies, no build step.
//
// Everything read from an image is untrusted input: it reaches the page only through
// textContent, setAttribute and SVG elements made with createElementNS (never innerHTML).
// The page calls the public 4.0 API relative to where it was loaded (so it works under the
// server's root_path and behind a proxy), exactly as any client does.
"use strict";

(() => {
  const API_PATH = "computervision/imageanalysis:analyze";
  const CONFIG_PATH = "openread/web-config";
  const KEY_STORAGE = "openread.apiKey";
  const SVG_NS = "http://www.w3.org/2000/svg";
  // Confidence bands; the same as openread/overlay.py (HIGH_CONFIDENCE, LOW_CONFIDENCE).
  const HIGH = 0.8;
  const LOW = 0.5;
  // What the file chooser offers. The seam for multi-page documents (PDF, multi-page TIFF
  // through the v3.2 Read API): add their types here and route them in analyzeRequest().
  const ACCEPT = [
    "image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/x-icon",
    "image/vnd.microsoft.icon", "image/tiff", ".jpg", ".jpeg", ".png", ".gif", ".bmp",
    ".webp", ".ico", ".tif", ".tiff", ".mpo",
  ].join(",");

  const $ = (id) => document.getElementById(id);
  const state = {
    config: { auth: false, urlFetch: false, maxImageBytes: 20971520, apiVersion: "2024-02-01" },
    raw: "",
    name: "",
    lines: [],
    words: [],
    objectUrl: null,
    focused: 0,
  };

  function setState(value) {
    document.body.dataset.state = value;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = false;
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
  }

  function apiUrl(path, query) {
    const url = new URL(path, document.baseURI);
    url.search = query || "";
    return url;
  }

  function band(confidence) {
    if (confidence >= HIGH) return "band-high";
    if (confidence >= LOW) return "band-mid";
    return "band-low";
  }

  // ------------------------------------------------------------------ key

  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (_error) {
      return "";
    }
  }

  function keepKey(key) {
    try {
      if (key) window.sessionStorage.setItem(KEY_STORAGE, key);
      else window.sessionStorage.removeItem(KEY_STORAGE);
    } catch (_error) {
      // storage refused (private mode): the key lives in the field only
    }
  }

  function currentKey() {
    const typed = $("api-key").value.trim();
    if (typed && typed !== storedKey()) keepKey(typed);
    return typed || storedKey();
  }

  function keyHeaders() {
    if (!state.config.auth) return {};
    const key = currentKey();
    return key ? { "Ocp-Apim-Subscription-Key": key } : {};
  }

  function askForKey(message) {
    $("key-form").hidden = false;
    showError(message);
    $("api-key").focus();
  }

  // ------------------------------------------------------------------ requests

  // The one function that turns an input into an API request ({url, init}). Multi-page
  // documents (PDF/TIFF, v3.2 analyze + operation polling) plug in here by input type.
  function analyzeRequest(input) {
    const query = `api-version=${encodeURIComponent(state.config.apiVersion)}` +
      "&features=read&openread-script=true";
    const headers = keyHeaders();
    if (input.kind === "url") {
      headers["Content-Type"] = "application/json";
      return {
        url: apiUrl(API_PATH, query),
        init: { method: "POST", headers, body: JSON.stringify({ url: input.url }) },
      };
    }
    headers["Content-Type"] = "application/octet-stream";
    return { url: apiUrl(API_PATH, query), init: { method: "POST", headers, body: input.file } };
  }

  function describeError(status, raw) {
    let code = "";
    let inner = "";
    let message = raw.trim() || "(no message)";
    try {
      const error = JSON.parse(raw).error;
      if (error && typeof error.message === "string") {
        code = String(error.code || "");
        message = error.message;
        if (error.innererror && error.innererror.code) inner = String(error.innererror.code);
      }
    } catch (_error) {
      // not Azure's envelope: show the body as it came
    }
    const codes = [code, inner].filter(Boolean).join(" / ");
    return `The API answered ${status}${codes ? ` (${codes})` : ""}: ${message}`;
  }

  async function read(input) {
    if (state.config.auth && !currentKey()) {
      askForKey("This server needs an API key: enter it above, then choose the image again.");
      return;
    }
    clearError();
    setState("reading");
    setStatus(`Reading ${input.name}…`);
    $("main").setAttribute("aria-busy", "true");
    const { url, init } = analyzeRequest(input);
    const started = performance.now();
    try {
      const response = await fetch(url, init);
      const raw = await response.text();
      const elapsed = performance.now() - started;
      if (!response.ok) {
        const text = describeError(response.status, raw);
        if (response.status === 401) askForKey(text);
        else showError(text);
        setStatus("");
        setState("error");
        return;
      }
      await show(input, JSON.parse(raw), raw, elapsed, response.headers);
      setState("done");
    } catch (error) {
      showError(`The request failed: ${error && error.message ? error.message : error}`);
      setStatus("");
      setState("error");
    } finally {
      $("main").removeAttribute("aria-busy");
    }
  }

  // ------------------------------------------------------------------ drawing

  function svg(name, attributes) {
    const element = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) {
      element.setAttribute(key, String(value));
    }
    return element;
  }

  function points(polygon) {
    return polygon.map((p) => `${p.x},${p.y}`).join(" ");
  }

  // A word's text laid along its own baseline: rotated and upside-down text is drawn the way
  // it runs on the image (the polygon starts at the text's own top-left corner).
  function label(word) {
    const [p0, p1, , p3] = word.polygon;
    const width = Math.max(1, Math.hypot(p1.x - p0.x, p1.y - p0.y));
    const height = Math.max(1, Math.hypot(p3.x - p0.x, p3.y - p0.y));
    const angle = (Math.atan2(p1.y - p0.y, p1.x - p0.x) * 180) / Math.PI;
    const group = svg("g", {
      class: "label",
      transform: `translate(${p0.x} ${p0.y}) rotate(${angle.toFixed(2)})`,
    });
    group.append(svg("rect", { width, height, class: "label-bg" }));
    const text = svg("text", {
      x: 0,
      y: (height * 0.8).toFixed(1),
      "font-size": (height * 0.8).toFixed(1),
      textLength: width.toFixed(1),
      lengthAdjust: "spacingAndGlyphs",
    });
    text.textContent = word.text;
    group.append(text);
    return group;
  }

  function drawOverlay(body) {
    const overlay = $("overlay");
    const { width, height } = body.metadata;
    overlay.replaceChildren();
    overlay.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const lineLayer = svg("g", { class: "lines" });
    const wordLayer = svg("g", { class: "words" });
    const textLayer = svg("g", { class: "texts" });
    state.lines.forEach((line, lineIndex) => {
      lineLayer.append(svg("polygon", {
        class: "line", points: points(line.boundingPolygon), "data-line": lineIndex,
      }));
    });
    state.words.forEach((entry, index) => {
      const { word } = entry;
      const polygon = svg("polygon", {
        class: `word ${band(word.confidence)}`,
        points: points(word.boundingPolygon),
        "data-word": index,
      });
      const title = svg("title");
      title.textContent = `${word.text} (confidence ${word.confidence.toFixed(3)})`;
      polygon.append(title);
      polygon.addEventListener("mouseenter", () => highlight(index, true));
      polygon.addEventListener("mouseleave", () => highlight(index, false));
      polygon.addEventListener("click", () => focusWord(index));
      entry.polygon = polygon;
      wordLayer.append(polygon);
      textLayer.append(label({ text: word.text, polygon: word.boundingPolygon }));
    });
    overlay.append(lineLayer, wordLayer, textLayer);
    applyToggles();
  }

  function applyToggles() {
    const overlay = $("overlay");
    overlay.classList.toggle("hide-lines", !$("show-lines").checked);
    overlay.classList.toggle("hide-words", !$("show-words").checked);
    overlay.classList.toggle("hide-text", !$("show-text").checked);
    overlay.classList.toggle("one-colour", $("colour-by").value === "none");
  }

  function highlight(index, on) {
    const entry = state.words[index];
    if (!entry) return;
    entry.polygon.classList.toggle("active", on);
    entry.span.classList.toggle("active", on);
    const line = $("overlay").querySelector(`polygon.line[data-line="${entry.line}"]`);
    if (line) line.classList.toggle("active", on);
  }

  // ------------------------------------------------------------------ text list

  function focusWord(index) {
    const entry = state.words[index];
    if (!entry) return;
    state.words[state.focused].span.tabIndex = -1;
    state.focused = index;
    entry.span.tabIndex = 0;
    entry.span.focus();
  }

  function buildText() {
    const list = $("lines");
    list.replaceChildren();
    state.lines.forEach((line, lineIndex) => {
      const item = document.createElement("li");
      item.className = "line";
      const words = document.createElement("span");
      words.className = "line-text";
      line.words.forEach((word, position) => {
        const index = state.words.length;
        const span = document.createElement("span");
        span.className = `word ${band(word.confidence)}`;
        span.textContent = word.text;
        span.tabIndex = index === 0 ? 0 : -1;
        span.dataset.word = String(index);
        span.title = `confidence ${word.confidence.toFixed(3)}`;
        span.addEventListener("mouseenter", () => highlight(index, true));
        span.addEventListener("mouseleave", () => highlight(index, false));
        span.addEventListener("focus", () => highlight(index, true));
        span.addEventListener("blur", () => highlight(index, false));
        if (position > 0) words.append(" ");
        words.append(span);
        state.words.push({ word, span, polygon: null, line: lineIndex });
      });
      item.append(words);
      if (line.script) {
        const script = document.createElement("span");
        script.className = "script";
        script.title = "script (ISO 15924)";
        script.textContent = line.script;
        item.append(" ", script);
      }
      list.append(item);
    });
  }

  function onListKey(event) {
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    let target = null;
    if (event.key in moves) target = state.focused + moves[event.key];
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = state.words.length - 1;
    if (target === null) return;
    event.preventDefault();
    focusWord(Math.min(Math.max(target, 0), state.words.length - 1));
  }

  // ------------------------------------------------------------------ results

  function fact(term, value) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    $("facts").append(dt, dd);
  }

  function showImage(input, width, height) {
    const image = $("image");
    const stage = $("stage");
    const note = $("image-note");
    if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
    state.objectUrl = null;
    let source = input.url;
    if (input.kind === "file") {
      state.objectUrl = URL.createObjectURL(input.file);
      source = state.objectUrl;
    }
    note.hidden = true;
    stage.classList.remove("blank");
    image.hidden = false;
    image.alt = `The image read: ${input.name}`;
    return new Promise((resolve) => {
      image.onload = () => resolve();
      image.onerror = () => {
        // e.g. TIFF, which browsers do not show: draw on a blank sheet of the image's size
        image.hidden = true;
        stage.classList.add("blank");
        note.textContent = `This browser cannot show the image, so the polygons are drawn on a ` +
          `blank ${width} × ${height} sheet.`;
        note.hidden = false;
        resolve();
      };
      image.src = source;
    });
  }

  async function show(input, body, raw, elapsed, headers) {
    state.raw = raw;
    state.name = input.name;
    const blocks = (body.readResult && body.readResult.blocks) || [];
    state.lines = blocks.flatMap((block) => block.lines);
    state.words = [];
    state.focused = 0;
    const { width, height } = body.metadata;
    buildText();
    drawOverlay(body);
    await showImage(input, width, height);
    $("facts").replaceChildren();
    fact("Round trip", `${Math.round(elapsed)} ms`);
    const read = headers.get("ms-vision-response-time-input-processed");
    if (read !== null) fact("Reading on the server", `${read} ms`);
    fact("Image", `${width} × ${height} px`);
    fact("Found", `${state.lines.length} lines, ${state.words.length} words`);
    fact("Model version", String(body.modelVersion || ""));
    const requestId = headers.get("apim-request-id");
    if (requestId) fact("Request id", requestId);
    $("json").textContent = raw;
    $("lines").hidden = state.lines.length === 0;
    for (const id of ["view", "text-panel", "json-panel"]) $(id).hidden = false;
    setStatus(state.lines.length
      ? `Read ${input.name}: ${state.lines.length} lines, ${state.words.length} words.`
      : `Read ${input.name}: no text found.`);
  }

  async function copyAll() {
    const text = state.lines.map((line) => line.text).join("\n");
    try {
      await navigator.clipboard.writeText(text);
      setStatus(`Copied ${state.lines.length} lines.`);
    } catch (_error) {
      const range = document.createRange();
      range.selectNodeContents($("lines"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      setStatus("The browser did not allow copying: the text is selected, press Ctrl+C.");
    }
  }

  function download() {
    const blob = new Blob([state.raw], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${state.name.replace(/\.[^.]*$/, "") || "openread"}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // ------------------------------------------------------------------ inputs

  function readFile(file) {
    if (file) read({ kind: "file", file, name: file.name || "pasted image" });
  }

  function wireInputs() {
    const file = $("file");
    file.accept = ACCEPT;
    file.addEventListener("change", () => {
      readFile(file.files[0]);
      file.value = "";
    });
    const drop = $("drop");
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      readFile(event.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (event) => {
      const data = event.clipboardData;
      if (!data) return;
      if (data.files.length) {
        event.preventDefault();
        readFile(data.files[0]);
        return;
      }
      const text = data.getData("text").trim();
      const target = event.target;
      const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement;
      if (!typing && state.config.urlFetch && /^https?:\/\//i.test(text)) {
        event.preventDefault();
        $("image-url").value = text;
        read({ kind: "url", url: text, name: text });
      }
    });
    $("url-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const url = $("image-url").value.trim();
      if (url) read({ kind: "url", url, name: url });
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      keepKey($("api-key").value.trim());
      clearError();
      setStatus(storedKey() ? "The key is kept for this tab." : "No key kept.");
    });
    $("forget-key").addEventListener("click", () => {
      keepKey("");
      $("api-key").value = "";
      setStatus("The key is forgotten.");
    });
    for (const id of ["show-lines", "show-words", "show-text", "colour-by"]) {
      $(id).addEventListener("change", applyToggles);
    }
    $("lines").addEventListener("keydown", onListKey);
    $("copy").addEventListener("click", copyAll);
    $("download").addEventListener("click", download);
  }

  async function loadConfig() {
    try {
      const response = await fetch(apiUrl(CONFIG_PATH, ""), { headers: { Accept: "application/json" } });
      if (response.ok) Object.assign(state.config, await response.json());
    } catch (_error) {
      // an older server without the route: the defaults, and a 401 will ask for a key
    }
    const mb = state.config.maxImageBytes / (1024 * 1024);
    $("max-size").textContent = `${Number.isInteger(mb) ? mb : mb.toFixed(1)} MB`;
    $("url-form").hidden = !state.config.urlFetch;
    $("key-form").hidden = !state.config.auth;
    if (state.config.auth && storedKey()) {
      $("api-key").value = storedKey();
      setStatus("Using the key kept for this tab.");
    }
  }

  async function start() {
    wireInputs();
    await loadConfig();
    setState("ready");
  }

  start();
})();
