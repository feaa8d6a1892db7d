#!/bin/sh
# Regenerates vendor/ (committed, embedded in the command-center binary) from the npm packages
# pinned in package-lock.json, so `cargo build` needs neither npm nor a network.
# Run from anywhere: command-center/web/vendor.sh
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
rm -rf vendor
mkdir -p vendor/images
cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css vendor/
cp node_modules/leaflet/dist/images/*.png vendor/images/
# supercluster's bundle (with kdbush inside) carries no licence line: one is put in front.
{ printf '/* supercluster %s (ISC, Mapbox) with kdbush (ISC, Vladimir Agafonkin) */\n' \
    "$(node -p "require('./node_modules/supercluster/package.json').version")"
  cat node_modules/supercluster/dist/supercluster.min.js; } > vendor/supercluster.min.js
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css vendor/
for p in leaflet supercluster uplot; do
  printf '%s %s\n' "$p" "$(node -p "require('./node_modules/$p/package.json').version")"
done > vendor/VERSIONS
# Strip source-map references: the maps are not shipped.
chmod 644 vendor/*.js vendor/*.css vendor/images/*.png
sed -i '/^\/\/# sourceMappingURL=/d' vendor/*.js
