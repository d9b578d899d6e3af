#include "knowledge/loaders/libs.hpp"

#include "core/shared_library.hpp"

namespace aas::knowledge::loaders {

// Each table is resolved once, on first use; a throw leaves it unset, so a later upload (after the
// package was installed) tries again.
#define X(name) so.symbol<decltype(&::name)>(#name),

const Libxml2& libxml2() {
  static const Libxml2 lib = [] {
    const core::SharedLibrary so(AAS_LIBXML2_SONAME, "libxml2");
    return Libxml2{AAS_LIBXML2_FUNCTIONS};
  }();
  return lib;
}

const Libzip& libzip() {
  static const Libzip lib = [] {
    const core::SharedLibrary so(AAS_LIBZIP_SONAME, "libzip4");
    return Libzip{AAS_LIBZIP_FUNCTIONS};
  }();
  return lib;
}

const Md4c& md4c() {
  static const Md4c lib = [] {
    const core::SharedLibrary so(AAS_MD4C_SONAME, "libmd4c0");
    return Md4c{AAS_MD4C_FUNCTIONS};
  }();
  return lib;
}

#undef X

}  // namespace aas::knowledge::loaders
