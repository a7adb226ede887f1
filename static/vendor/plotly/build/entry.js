// plotly.js with only the trace types MISyn Review draws: scatter (always in core), bar, pie, and
// scattergl in its "strict" form (precompiled WebGL programs, no `new Function`), as plotly's own
// lib/index-strict.js registers it, so that it runs under a script-src 'self' Content-Security-Policy.
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),
    require('plotly.js/lib/pie'),
    require('plotly.js/src/traces/scattergl/strict'),
]);

module.exports = Plotly;
