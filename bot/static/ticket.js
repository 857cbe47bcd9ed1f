// The ticket page refreshes itself: it asks for the ticket's JSON every few seconds (with the
// last ETag, so an unchanged ticket costs a 304) and redraws what changed, as text only.
"use strict";
(function () {
  const body = document.body;
  const url = body.dataset.json;
  const every = Math.max(1, Number(body.dataset.poll) || 15) * 1000;
  let etag = body.dataset.etag || "";

  function setText(id, value) {
    const node = document.getElementById(id);
    if (node && node.textContent !== value) node.textContent = value;
  }

  function event(e) {
    const item = document.createElement("li");
    item.className = e.mine ? "event mine" : "event";
    const meta = document.createElement("p");
    meta.className = "meta";
    const label = document.createElement("strong");
    label.textContent = e.label;
    const when = document.createElement("time");
    when.textContent = e.at;
    meta.append(label, " · " + e.author + " · ", when);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = e.text;
    item.append(meta, text);
    return item;
  }

  function draw(t) {
    setText("subject", t.subject);
    setText("status", t.status_words);
    document.getElementById("status").className = "status status-" + t.status;
    setText("assignee", t.assignee);
    setText("eta", t.eta);
    setText("next_update", t.next_update);
    setText("waiting_on", t.waiting_on);
    const inc = t.incident;
    setText("incident", inc ? inc.ref + (inc.title ? ": " + inc.title : "") + " (" + inc.state + ")"
                            : "none linked");
    document.getElementById("timeline").replaceChildren(...t.events.map(event));
    drawRating(t.rating);
  }

  // The rating form shows while the answer is awaited (say, once the ticket is resolved
  // while the page is open); the thanks once it is given.
  function drawRating(rating) {
    const section = document.getElementById("rate");
    const thanks = document.getElementById("rated");
    if (!rating || !section || !thanks) return;
    section.hidden = rating.state !== "awaited";
    thanks.hidden = rating.state !== "answered";
    if (rating.score) {
      setText("rated", "Thank you for your rating: " + rating.score + " out of " + rating.scale + ".");
    }
  }

  async function poll() {
    if (sending) return;  // the page is being replaced by the answer to the form
    try {
      const answer = await fetch(url, { headers: etag ? { "If-None-Match": etag } : {},
                                        cache: "no-store", credentials: "omit" });
      if (answer.status === 200) {
        etag = answer.headers.get("ETag") || "";
        draw(await answer.json());
      }
    } catch (error) {
      // Offline for a moment: the next round tries again.
    }
    window.setTimeout(poll, every);
  }

  let sending = false;
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", () => { sending = true; });
  }

  window.setTimeout(poll, every);
})();
