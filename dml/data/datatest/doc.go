// Package datatest writes small datasets in the layouts of the benchmarks' archives, for tests
// that exercise downloading and reading them (with net/http/httptest as the server) without the
// real data or a network: [WriteCUBArchive] writes a CUB_200_2011.tgz of generated images that
// data.ReadCUB reads and data.Download unpacks.
//
// It knows the archives' layouts; it imports nothing of dml/data, so that package's own tests
// can use it.
package datatest
