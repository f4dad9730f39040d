// Package childtest runs part of a test in a child process: the test binary started again for
// that one test. Tests of hostile input run there under an address-space limit (prlimit --as), so
// that a file that asks for too much memory fails the test instead of the machine; tests of crash
// safety start such a child and kill it at a chosen moment.
//
// A test using it has two halves, chosen by [Child]:
//
//	func TestBomb(t *testing.T) {
//		if childtest.Child(t) {
//			// the work that must stay within the limit
//			return
//		}
//		childtest.RunLimited(t, 4<<30, 5*time.Second)
//	}
package childtest
