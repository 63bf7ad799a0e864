// plakar-fs-plugin: plakar's own fs store (integrations/fs), served as a
// storage plugin through plakar's own plugin SDK (go-kloset-sdk). Built for
// the bench only: run beside the built-in fs store on the same disk, it
// measures what plakar's gRPC plugin path costs by itself, so that the gap
// between our plugin and the built-in store can be split into the part
// every plugin pays and the part that is ours (docs/performance.md).
package main

import (
	"os"

	sdk "github.com/PlakarKorp/go-kloset-sdk"
	fs "github.com/PlakarKorp/integrations/fs/storage"
)

func main() {
	sdk.EntrypointStorage(os.Args, fs.NewStore)
}
