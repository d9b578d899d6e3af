#pragma once
// Shared libraries opened on first use (dlopen) instead of linked, for dependencies that only some
// deployments or requests need: every linked library is mapped, relocated and partly paged in at
// every start, whether it is used or not (issue 16: libpq with its GnuTLS/Kerberos/LDAP chain,
// libxml2 with ICU, libstemmer cost the SQLite default ~5 MiB of its ~23 MiB idle RSS).
//
// A user lists the functions it calls in an X-macro and resolves them all at once, so a missing
// symbol fails at the first use rather than at some later call:
//
//   #define AAS_LIBFOO_FUNCTIONS X(foo_open) X(foo_close)
//   struct Libfoo {
//   #define X(name) decltype(&::name) name;
//     AAS_LIBFOO_FUNCTIONS
//   #undef X
//   };
//   const Libfoo& libfoo() {
//     static const Libfoo lib = [] {
//       const core::SharedLibrary so(AAS_LIBFOO_SONAME, "libfoo1");
//   #define X(name) so.symbol<decltype(&::name)>(#name),
//       return Libfoo{AAS_LIBFOO_FUNCTIONS};
//   #undef X
//     }();
//     return lib;
//   }
//
// The library's header still gives the types and the signatures; its SONAME comes from CMake
// (aas_soname), so it follows the installed package.
#include <stdexcept>
#include <string>

namespace aas::core {

// A library that is not installed, or lacks a symbol: the message names both.
class LibraryUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A library opened with RTLD_NOW | RTLD_LOCAL and never closed (its functions are kept in static
// tables). Throws LibraryUnavailable naming the library and the Debian package that provides it.
class SharedLibrary {
 public:
  SharedLibrary(const char* soname, const char* package);

  template <class F>
  F symbol(const char* name) const {
    return reinterpret_cast<F>(address(name));
  }

  // The address of a function or variable; throws when the library has no such symbol.
  void* address(const char* name) const;

 private:
  std::string soname_;
  void* handle_;
};

}  // namespace aas::core
