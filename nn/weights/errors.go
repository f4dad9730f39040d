package weights

import "fmt"

// Error describes a problem with a weight file: the file, the tensor (or other entry) at
// fault when there is one, and what is wrong. Every error returned by this package for a
// bad file is an *Error, so callers can use errors.As to find the file and tensor.
type Error struct {
	Path   string // the file
	Tensor string // the tensor or entry at fault; empty when the problem concerns the whole file
	Err    error  // what is wrong
}

func (e *Error) Error() string {
	if e.Tensor != "" {
		return fmt.Sprintf("weights: %s: tensor %q: %v", e.Path, e.Tensor, e.Err)
	}
	return fmt.Sprintf("weights: %s: %v", e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// fileErr returns an *Error for path with a formatted message and no tensor.
func fileErr(path, format string, args ...any) error {
	return &Error{Path: path, Err: fmt.Errorf(format, args...)}
}

// tensorErr returns an *Error for the named tensor of path with a formatted message.
func tensorErr(path, name, format string, args ...any) error {
	return &Error{Path: path, Tensor: name, Err: fmt.Errorf(format, args...)}
}
