// Where the CLI bundle sits among the executable's assets (and so in the folder they unpack to):
// under cli/, so cli/version.ts finds package.json one folder up, as in the npm package.
export const BUNDLE_ASSET = 'cli/main.mjs';
