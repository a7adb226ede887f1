// Builds plotly.min.js from entry.js with plotly.js's own esbuild settings (its esbuild-config.js of
// 4.1.1: iife global Plotly, the glsl, inline-css and environment plugins, the regl and stream aliases,
// target es2016), minified like its dist/*.min.js. One difference: MapLibre's stylesheet, which
// plotly's registry requires only when a map trace is registered (none is here), resolves to nothing.
import { build } from 'esbuild';
import { environmentPlugin } from 'esbuild-plugin-environment';
import { glsl } from 'esbuild-plugin-glsl';
import InlineCSSPlugin from 'esbuild-plugin-inline-css';

const noMapLibreStyles = {
    name: 'no-maplibre-styles',
    setup(build) {
        build.onResolve({ filter: /^maplibre-gl\/dist\/maplibre-gl\.css$/ }, (args) => ({ path: args.path, namespace: 'empty' }));
        build.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: '', loader: 'js' }));
    },
};

const banner = `/**
* plotly.js v4.1.1, partial bundle for MISyn Review: scatter, bar, pie, scattergl (strict)
* built by static/vendor/plotly/build/build.sh from the npm registry's plotly.js 4.1.1
* Copyright 2012-2026, Plotly, Inc.
* All rights reserved.
* Licensed under the MIT license
*/`;

await build({
    entryPoints: ['./entry.js'],
    outfile: process.argv[2] || '../plotly.min.js',
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    legalComments: 'eof',
    banner: { js: banner },
    plugins: [noMapLibreStyles, InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'info',
});
