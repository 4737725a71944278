// Starts Swagger UI on the document named by data-spec-url. No outside requests:
// the validator badge (which calls validator.swagger.io) is turned off.
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    validatorUrl: null,
    deepLinking: true,
    persistAuthorization: false,
  });
});
