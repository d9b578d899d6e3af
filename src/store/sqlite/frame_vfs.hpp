#pragma once
// Private to the SQLite adapters: a VFS over the platform's that writes each WAL frame with ONE
// system call instead of two.
//
// SQLite appends a frame to the WAL as two writes: its 24-byte header, then at once the page after
// it. On this service's hot path a stored chat turn appends ~17 frames, so half of its ~35 pwrite
// calls were headers (issue 16; a system call is dear on these VMs). This VFS holds a frame header
// back when it continues the file handle's previous write, and sends it with the page that follows
// it as one write. Nothing else changes: any other operation on the file (a read, a sync, a size,
// a lock, a write elsewhere, close) sends a held header first, and SQLite always writes a frame's
// page straight after its header, before anything reads it or publishes the frame in the
// wal-index — so a header is never held past its own frame's write, and a commit the caller was
// told about is in the file exactly as before (the crash suite of issue 18 runs over it).
// Files other than a WAL pass straight through.
namespace aas::store::sqlite::detail {

// Registers the VFS as the process's default (once; later calls do nothing). Call before opening
// a connection.
void install_frame_vfs();

}  // namespace aas::store::sqlite::detail
