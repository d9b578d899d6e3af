#include "core/shared_library.hpp"

#include <dlfcn.h>


namespace aas::core {

SharedLibrary::SharedLibrary(const char* soname, const char* package) : soname_(soname) {
  handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = ::dlerror();
    throw LibraryUnavailable("cannot load " + soname_ + " (Debian package " + package +
                             "): " + (why ? why : "unknown error"));
  }
}

void* SharedLibrary::address(const char* name) const {
  ::dlerror();
  void* p = ::dlsym(handle_, name);
  if (!p) throw LibraryUnavailable(soname_ + " has no symbol " + name + " (a newer version is needed)");
  return p;
}

}  // namespace aas::core
