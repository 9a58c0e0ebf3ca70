# Locates the CUTLASS/CuTe headers and sets CUTE_MLA_CUTLASS_INCLUDE_DIR.
#   1. CUTLASS_DIR (cache or environment): a CUTLASS checkout or its include/;
#   2. otherwise the pinned nvidia-cutlass pip package, found through the
#      Python interpreter of the build (cutlass_library/source/include).
include_guard(GLOBAL)

function(_cute_mla_accept_cutlass dir out_var)
  if(EXISTS "${dir}/include/cute/tensor.hpp")
    set(${out_var} "${dir}/include" PARENT_SCOPE)
  elseif(EXISTS "${dir}/cute/tensor.hpp")
    set(${out_var} "${dir}" PARENT_SCOPE)
  else()
    set(${out_var} "" PARENT_SCOPE)
  endif()
endfunction()

set(CUTE_MLA_CUTLASS_INCLUDE_DIR "")
if(NOT CUTLASS_DIR AND DEFINED ENV{CUTLASS_DIR})
  set(CUTLASS_DIR "$ENV{CUTLASS_DIR}")
endif()
if(CUTLASS_DIR)
  _cute_mla_accept_cutlass("${CUTLASS_DIR}" CUTE_MLA_CUTLASS_INCLUDE_DIR)
  if(NOT CUTE_MLA_CUTLASS_INCLUDE_DIR)
    message(FATAL_ERROR "CUTLASS_DIR=${CUTLASS_DIR} holds neither include/cute/tensor.hpp "
                        "nor cute/tensor.hpp")
  endif()
else()
  if(NOT Python_EXECUTABLE)
    find_package(Python COMPONENTS Interpreter)
  endif()
  if(Python_EXECUTABLE)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
              "import cutlass_library, os; print(os.path.join(os.path.dirname(cutlass_library.__file__), 'source', 'include'))"
      OUTPUT_VARIABLE _cutlass_from_pip
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET
      RESULT_VARIABLE _cutlass_rc)
    if(_cutlass_rc EQUAL 0)
      _cute_mla_accept_cutlass("${_cutlass_from_pip}" CUTE_MLA_CUTLASS_INCLUDE_DIR)
    endif()
  endif()
  if(NOT CUTE_MLA_CUTLASS_INCLUDE_DIR)
    message(FATAL_ERROR
      "CUTLASS headers not found. Either pass -DCUTLASS_DIR=<cutlass checkout>, or install "
      "the pinned package into the Python CMake finds: pip install nvidia-cutlass==4.2.0.0 "
      "(Python: '${Python_EXECUTABLE}').")
  endif()
endif()
message(STATUS "cute_mla: CUTLASS headers in ${CUTE_MLA_CUTLASS_INCLUDE_DIR}")
