// Whether Fortuna's native block generator (fortuna/native) is built, found
// once for every suite that needs it. `npm install` builds it; an install with
// --ignore-scripts does not, and the service then runs the portable engine
// (fortuna/src/native-blocks.ts). Suites that test the addon itself skip
// with this reason instead of failing on a missing file.
import { nativeBlocks, nativeBlocksError } from "../src/native-blocks.js";

/** false when the addon loaded; else why it did not, for `{ skip }` or `t.skip()`. */
export const nativeAddonSkip: string | false = nativeBlocks
  ? false
  : `fortuna/native is not built (an install with --ignore-scripts? run npm run build:native): ${nativeBlocksError}`;
