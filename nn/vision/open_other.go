//go:build !unix

package vision

import "os"

// openFlags opens for reading, on systems without a non-blocking open.
const openFlags = os.O_RDONLY
