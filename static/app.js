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
// Show a server error page's message instead of failing silently.
document.addEventListener("htmx:responseError", function (evt) {
  var target = document.getElementById("upload-results");
  if (target && evt.detail.xhr.status >= 400 && evt.detail.xhr.responseText) {
    target.innerHTML = evt.detail.xhr.responseText;
  }
});
document.addEventListener("htmx:sendError", function () {
  var target = document.getElementById("upload-results");
  if (target) {
    target.innerHTML = '<div class="alert" role="alert"><p><strong>The server could not be reached. Check your connection and try again.</strong></p></div>';
  }
});
