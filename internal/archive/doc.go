// Package archive unpacks tar archives, gzip-compressed (.tar.gz, .tgz) or plain (.tar), that
// come from the network and so are not trusted: dataset archives downloaded by dml/data.
//
// [Extract] writes only regular files and directories, and only beneath its destination
// directory (through an [os.Root]). It refuses, with an [*EntryError] naming the entry:
//   - a name that is absolute, or that leaves the destination once cleaned ("../x", "a/../../x",
//     and the same with Windows-style backslashes, which it treats as separators);
//   - symbolic links, hard links, devices and FIFOs, and any other entry that is not a file or a
//     directory (pax global headers are skipped);
//   - a second entry of a name already extracted (other than a directory repeated);
//   - an entry whose header size exceeds what is left of [Limits].MaxBytes (before anything of
//     it is written), and the entry past [Limits].MaxFiles.
//
// Files are created 0644 and directories 0755 (before the umask), whatever modes, owners and
// times the archive records, so nothing is ever setuid or group- or world-writable.
//
// A refused archive may have been partly extracted when the error is found, so callers extract
// into a temporary directory and rename it into place on success: [ExtractAtomic] and
// [ExtractAtomicDir] do that, and leave nothing behind on failure.
//
// The package knows tar and gzip; it knows nothing of datasets, downloads or checksums.
package archive
