#pragma once
// The document parsers' libraries (libxml2, libzip, md4c), opened on the first upload that needs
// them rather than linked (core/shared_library.hpp): with ICU, liblzma and bzip2 behind them they
// cost every start ~1.2 MiB of resident pages, and most deployments never upload HTML or DOCX.
// An accessor throws core::LibraryUnavailable when its library cannot be loaded; parse_document
// turns that into an `unavailable` error. Internal to src/knowledge/loaders.
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <md4c.h>
#include <zip.h>

namespace aas::knowledge::loaders {

// xmlFree is a variable holding the deallocator (Debian's build has no per-thread allocators).
#define AAS_LIBXML2_FUNCTIONS \
  X(htmlReadMemory)           \
  X(htmlEntityLookup)         \
  X(xmlReadMemory)            \
  X(xmlFreeDoc)               \
  X(xmlDocGetRootElement)     \
  X(xmlNodeGetContent)        \
  X(xmlFree)

#define AAS_LIBZIP_FUNCTIONS    \
  X(zip_discard)                \
  X(zip_error_fini)             \
  X(zip_error_init)             \
  X(zip_error_strerror)         \
  X(zip_fclose)                 \
  X(zip_file_strerror)          \
  X(zip_fopen_index)            \
  X(zip_fread)                  \
  X(zip_get_num_entries)        \
  X(zip_name_locate)            \
  X(zip_open_from_source)       \
  X(zip_source_buffer_create)   \
  X(zip_source_free)            \
  X(zip_stat_index)             \
  X(zip_stat_init)              \
  X(zip_strerror)

#define AAS_MD4C_FUNCTIONS X(md_parse)

#define X(name) decltype(&::name) name;
struct Libxml2 {
  AAS_LIBXML2_FUNCTIONS
  void free_xml(void* p) const { (*xmlFree)(p); }
};
struct Libzip {
  AAS_LIBZIP_FUNCTIONS
};
struct Md4c {
  AAS_MD4C_FUNCTIONS
};
#undef X

const Libxml2& libxml2();
const Libzip& libzip();
const Md4c& md4c();

}  // namespace aas::knowledge::loaders
