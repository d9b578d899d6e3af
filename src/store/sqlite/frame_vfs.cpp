#include "store/sqlite/frame_vfs.hpp"

#include <sqlite3.h>

#include <cstring>
#include <mutex>

namespace aas::store::sqlite::detail {

namespace {

constexpr int kFrameHeader = 24;  // WAL_FRAME_HDRSIZE

sqlite3_vfs* g_real = nullptr;  // the platform's VFS, under ours
sqlite3_vfs g_vfs;

// Our file, followed in the same allocation by the real VFS's file. SQLite allocates it (szOsFile
// bytes, not constructed): plain members only.
struct FrameFile {
  sqlite3_file base;
  sqlite3_file* real;
  bool wal;
  bool held;                     // header[] waits for its page
  sqlite3_int64 held_at;
  sqlite3_int64 next;            // where this handle's last write ended; -1 after anything else
  unsigned char header[kFrameHeader];
  unsigned char* joined;         // header + page, sent as one write (sqlite3_malloc'd)
  int joined_size;
};

FrameFile* of(sqlite3_file* f) { return reinterpret_cast<FrameFile*>(f); }
const sqlite3_io_methods& real_methods(FrameFile* f) { return *f->real->pMethods; }

// Sends a held header on its own (anything but its page comes next); every operation but a
// write calls it first.
int settle(FrameFile* f) {
  f->next = -1;
  if (!f->held) return SQLITE_OK;
  f->held = false;
  return real_methods(f).xWrite(f->real, f->header, kFrameHeader, f->held_at);
}

int frame_write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  FrameFile* f = of(file);
  if (f->held && offset == f->held_at + kFrameHeader) {
    // The page of the held header: both in one write.
    const int total = kFrameHeader + amount;
    if (f->joined_size < total) {
      sqlite3_free(f->joined);
      f->joined = static_cast<unsigned char*>(sqlite3_malloc(total));
      f->joined_size = f->joined ? total : 0;
    }
    if (f->joined) {
      std::memcpy(f->joined, f->header, kFrameHeader);
      std::memcpy(f->joined + kFrameHeader, data, static_cast<std::size_t>(amount));
      f->held = false;
      const int rc = real_methods(f).xWrite(f->real, f->joined, total, f->held_at);
      f->next = rc == SQLITE_OK ? offset + amount : -1;
      return rc;
    }
  }
  const sqlite3_int64 previous_end = f->next;
  if (int rc = settle(f); rc != SQLITE_OK) return rc;
  if (f->wal && amount == kFrameHeader && offset == previous_end) {
    // A frame header appended after this handle's previous write: its page follows at once.
    std::memcpy(f->header, data, kFrameHeader);
    f->held = true;
    f->held_at = offset;
    return SQLITE_OK;
  }
  const int rc = real_methods(f).xWrite(f->real, data, amount, offset);
  f->next = rc == SQLITE_OK ? offset + amount : -1;
  return rc;
}

int frame_close(sqlite3_file* file) {
  FrameFile* f = of(file);
  const int settled = settle(f);
  const int rc = real_methods(f).xClose(f->real);
  sqlite3_free(f->joined);
  f->joined = nullptr;
  return settled != SQLITE_OK ? settled : rc;
}

// The other methods: a held header first, then the real file's own.
#define AAS_FORWARD(name, params, args)                      \
  int frame_##name params {                                  \
    FrameFile* f = of(file);                                 \
    if (int rc = settle(f); rc != SQLITE_OK) return rc;      \
    return real_methods(f).name args;                        \
  }
AAS_FORWARD(xRead, (sqlite3_file * file, void* data, int amount, sqlite3_int64 offset), (f->real, data, amount, offset))
AAS_FORWARD(xTruncate, (sqlite3_file * file, sqlite3_int64 size), (f->real, size))
AAS_FORWARD(xSync, (sqlite3_file * file, int flags), (f->real, flags))
AAS_FORWARD(xFileSize, (sqlite3_file * file, sqlite3_int64* size), (f->real, size))
AAS_FORWARD(xLock, (sqlite3_file * file, int lock), (f->real, lock))
AAS_FORWARD(xUnlock, (sqlite3_file * file, int lock), (f->real, lock))
AAS_FORWARD(xCheckReservedLock, (sqlite3_file * file, int* out), (f->real, out))
AAS_FORWARD(xFileControl, (sqlite3_file * file, int op, void* arg), (f->real, op, arg))
AAS_FORWARD(xShmMap, (sqlite3_file * file, int region, int size, int extend, void volatile** out),
            (f->real, region, size, extend, out))
AAS_FORWARD(xShmLock, (sqlite3_file * file, int offset, int n, int flags), (f->real, offset, n, flags))
AAS_FORWARD(xShmUnmap, (sqlite3_file * file, int delete_flag), (f->real, delete_flag))
AAS_FORWARD(xFetch, (sqlite3_file * file, sqlite3_int64 offset, int amount, void** out), (f->real, offset, amount, out))
AAS_FORWARD(xUnfetch, (sqlite3_file * file, sqlite3_int64 offset, void* page), (f->real, offset, page))
#undef AAS_FORWARD

int frame_sector_size(sqlite3_file* file) { return real_methods(of(file)).xSectorSize(of(file)->real); }
int frame_device_characteristics(sqlite3_file* file) {
  return real_methods(of(file)).xDeviceCharacteristics(of(file)->real);
}
void frame_shm_barrier(sqlite3_file* file) {
  FrameFile* f = of(file);
  (void)settle(f);
  real_methods(f).xShmBarrier(f->real);
}

// Version 3, as the unix VFS's own files (install_frame_vfs checks that the real VFS is at least
// that recent, so every method forwarded exists).
const sqlite3_io_methods g_methods = {
    3,
    frame_close,
    frame_xRead,
    frame_write,
    frame_xTruncate,
    frame_xSync,
    frame_xFileSize,
    frame_xLock,
    frame_xUnlock,
    frame_xCheckReservedLock,
    frame_xFileControl,
    frame_sector_size,
    frame_device_characteristics,
    frame_xShmMap,
    frame_xShmLock,
    frame_shm_barrier,
    frame_xShmUnmap,
    frame_xFetch,
    frame_xUnfetch,
};

int frame_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
  FrameFile* f = of(file);
  std::memset(f, 0, sizeof(FrameFile));
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + sizeof(FrameFile));
  f->wal = (flags & SQLITE_OPEN_WAL) != 0;
  f->next = -1;
  const int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  // Whenever the real file has methods SQLite will close it, through ours.
  f->base.pMethods = f->real->pMethods ? &g_methods : nullptr;
  // A real file of an older version than ours would lack methods we forward to.
  if (rc == SQLITE_OK && f->real->pMethods && f->real->pMethods->iVersion < 3) {
    frame_close(file);
    f->base.pMethods = nullptr;
    return SQLITE_CANTOPEN;
  }
  return rc;
}

}  // namespace

void install_frame_vfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    if (!g_real) return;
    g_vfs = *g_real;  // its path, time and randomness functions as they are
    g_vfs.zName = "aas-frames";
    g_vfs.pNext = nullptr;
    g_vfs.szOsFile = static_cast<int>(sizeof(FrameFile)) + g_real->szOsFile;
    g_vfs.xOpen = frame_open;
    sqlite3_vfs_register(&g_vfs, 1);
  });
}

}  // namespace aas::store::sqlite::detail
