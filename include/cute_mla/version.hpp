// cute-mla version. CMake parses the three numbers below; keep their form.
#pragma once

#define CUTE_MLA_VERSION_MAJOR 0
#define CUTE_MLA_VERSION_MINOR 1
#define CUTE_MLA_VERSION_PATCH 0

#define CUTE_MLA_STRINGIFY_(x) #x
#define CUTE_MLA_STRINGIFY(x) CUTE_MLA_STRINGIFY_(x)
#define CUTE_MLA_VERSION_STRING                                                \
  CUTE_MLA_STRINGIFY(CUTE_MLA_VERSION_MAJOR)                                   \
  "." CUTE_MLA_STRINGIFY(CUTE_MLA_VERSION_MINOR) "." CUTE_MLA_STRINGIFY(        \
      CUTE_MLA_VERSION_PATCH)
