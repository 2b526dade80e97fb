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
