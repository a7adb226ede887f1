// Starts Swagger UI on the API documentation page (api/templates/api/docs.html) from a static
// file, as the Content-Security-Policy allows no inline script. The schema declares the Bearer
// scheme, so "Authorize" asks for a personal token and "Try it out" sends it.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // Keep the token out of localStorage: it is a secret and this page need not remember it.
    persistAuthorization: false,
    // No badge from validator.swagger.io: the page reaches nothing outside this site.
    validatorUrl: null,
    tryItOutEnabled: false,
    // The request and answer shapes are shown with each operation; the list of them all is noise.
    defaultModelsExpandDepth: -1,
  });
})();
