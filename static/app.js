// Upload progress for htmx uploads; without JS the form posts normally.
document.addEventListener("htmx:xhr:progress", function (evt) {
  var bar = document.querySelector("#upload-progress progress");
  if (bar && evt.detail.lengthComputable) {
    bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
  }
});
document.addEventListener("htmx:beforeRequest", function (evt) {
  var bar = document.querySelector("#upload-progress progress");
  if (bar) bar.value = 0;
});
// Error answers carry a message fragment: show it where the request's
// result would have gone if it names a target, else at the top of the page.
document.addEventListener("htmx:beforeSwap", function (evt) {
  var xhr = evt.detail.xhr;
  if (xhr.status < 400 || !xhr.responseText) return;
  evt.detail.shouldSwap = true;
  evt.detail.isError = false;
  if (!evt.detail.requestConfig.elt.closest("[hx-target]")) {
    evt.detail.target = document.getElementById("page-alert");
  }
});
document.addEventListener("htmx:sendError", function (evt) {
  var target = evt.detail.elt.closest("[hx-target]") ? evt.detail.target : document.getElementById("page-alert");
  if (target) {
    target.innerHTML = '<div class="alert" role="alert"><p><strong>The server could not be reached. Check your connection and try again.</strong></p></div>';
  }
});

// Upload from anywhere. Files dragged onto the page or pasted go into the
// upload form where the page has one (previewed, for its button to send),
// else straight to POST /images, the result shown at the top of the page.
// Without JS the plain form is all there is.
(function () {
  var accepted = ["image/jpeg", "image/png", "image/gif", "image/webp"];
  var input = function () { return document.getElementById("image"); };
  var images = function (files) {
    return Array.prototype.filter.call(files || [], function (f) { return accepted.indexOf(f.type) >= 0; });
  };
  var hasFiles = function (evt) {
    var types = evt.dataTransfer && evt.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  };
  var size = function (n) {
    return n >= 1048576 ? (n / 1048576).toFixed(1) + " MB" : n >= 1024 ? Math.round(n / 1024) + " KB" : n + " bytes";
  };

  // preview lists each chosen file: a thumbnail, its name and its size.
  function preview() {
    var list = document.getElementById("upload-preview"), inp = input();
    if (!list || !inp) return;
    list.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
    list.textContent = "";
    Array.prototype.forEach.call(inp.files, function (f) {
      var li = document.createElement("li"), img = document.createElement("img");
      var name = document.createElement("span"), bytes = document.createElement("span");
      img.src = URL.createObjectURL(f);
      img.alt = "";
      img.width = img.height = 48;
      name.className = "name";
      name.textContent = f.name;
      bytes.className = "size";
      bytes.textContent = size(f.size);
      li.append(img, name, bytes);
      list.append(li);
    });
    list.hidden = inp.files.length === 0;
  }

  // take puts the photos among files in the form, or uploads them at once
  // where there is no form; it reports whether there were any.
  function take(files) {
    files = images(files);
    if (!files.length) return false;
    var inp = input();
    if (inp) {
      var dt = new DataTransfer();
      files.forEach(function (f) { dt.items.add(f); });
      inp.files = dt.files;
      preview();
      inp.form.querySelector("button[type=submit]").focus();
      return true;
    }
    var body = new FormData(), out = document.getElementById("drop-results");
    files.forEach(function (f) { body.append("image", f, f.name); });
    out.innerHTML = '<p class="notice" role="status">Uploading…</p>';
    fetch("/images", { method: "POST", body: body, headers: { "HX-Request": "true" } })
      .then(function (res) { return res.text(); })
      .then(function (html) { out.innerHTML = html; htmx.process(out); })
      .catch(function () {
        out.innerHTML = '<div class="alert" role="alert"><p><strong>The server could not be reached. Check your connection and try again.</strong></p></div>';
      });
    return true;
  }

  // The drop overlay shows while files are dragged over the page.
  var depth = 0;
  function dragging(on) {
    var overlay = document.getElementById("drop-overlay");
    if (overlay) overlay.hidden = !on;
    document.body.classList.toggle("dragging", on);
  }
  document.addEventListener("dragenter", function (evt) {
    if (!hasFiles(evt)) return;
    depth++;
    dragging(true);
  });
  document.addEventListener("dragleave", function (evt) {
    if (!hasFiles(evt)) return;
    if (--depth <= 0) {
      depth = 0;
      dragging(false);
    }
  });
  document.addEventListener("dragover", function (evt) {
    if (!hasFiles(evt)) return;
    evt.preventDefault();
    evt.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", function (evt) {
    if (!hasFiles(evt)) return;
    evt.preventDefault();
    depth = 0;
    dragging(false);
    take(evt.dataTransfer.files);
  });
  // Text pasted stays text; a pasted image is taken.
  document.addEventListener("paste", function (evt) {
    if (evt.clipboardData && take(evt.clipboardData.files)) evt.preventDefault();
  });
  document.addEventListener("change", function (evt) {
    if (evt.target.id === "image") preview();
  });
  // After a successful upload the form is ready for the next photos; after
  // a caption is saved in place its editor closes.
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!evt.detail.xhr || evt.detail.xhr.status >= 300) return;
    var inp = input(), editor = evt.detail.elt.closest && evt.detail.elt.closest("details.edit-caption");
    if (inp && evt.detail.elt === inp.form) {
      inp.value = "";
      preview();
    }
    if (editor) editor.open = false;
  });
  document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
})();

// The arrow keys go to the previous and next photo on an image page (its
// links work without JS too), except while typing.
document.addEventListener("keydown", function (evt) {
  if (evt.defaultPrevented || evt.altKey || evt.ctrlKey || evt.metaKey || evt.shiftKey) return;
  if (evt.target.closest && evt.target.closest("input, textarea, select, [contenteditable]")) return;
  var rel = evt.key === "ArrowLeft" ? "prev" : evt.key === "ArrowRight" ? "next" : "";
  var link = rel && document.querySelector('.photo-nav a[rel="' + rel + '"]');
  if (link) {
    evt.preventDefault();
    link.click();
  }
});
