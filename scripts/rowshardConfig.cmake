# find_package(rowshard 1.0 CONFIG [REQUIRED] [COMPONENTS engine sharding io mpi])
#
#   rowshard::engine    tables, optimizers, collections in one process
#   rowshard::sharding  sharded collections, Communicator, local_communicator()
#   rowshard::io        checkpoints, .npy and safetensors files, pretrained tables
#   rowshard::mpi       world_communicator(), over MPI
#   rowshard::rowshard  all four
#
# Only rowshard::mpi, and so rowshard::rowshard, needs MPI. MPI is looked for
# when no components are named (without it, those two targets are left out)
# or when mpi is named (without it, the package is not found).
include(CMakeFindDependencyMacro)
find_dependency(OpenMP)
find_dependency(nlohmann_json 3)
# A build with the CUDA backend links the CUDA runtime statically into
# rowshard::engine; a static rowshard::engine carries that link to its users.
if(@ROWSHARD_WITH_CUDA@)
  find_dependency(CUDAToolkit)
endif()
include("${CMAKE_CURRENT_LIST_DIR}/rowshardTargets.cmake")

set(rowshard_engine_FOUND TRUE)
set(rowshard_sharding_FOUND TRUE)
set(rowshard_io_FOUND TRUE)
set(rowshard_mpi_FOUND FALSE)
if(NOT rowshard_FIND_COMPONENTS OR "mpi" IN_LIST rowshard_FIND_COMPONENTS)
  find_package(MPI QUIET COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    include("${CMAKE_CURRENT_LIST_DIR}/rowshardMpiTargets.cmake")
    set(rowshard_mpi_FOUND TRUE)
  elseif(NOT rowshard_FIND_COMPONENTS AND NOT rowshard_FIND_QUIETLY)
    message(STATUS "rowshard: MPI (C++) not found, so rowshard::mpi and rowshard::rowshard "
                   "are not defined; rowshard::engine, rowshard::sharding and rowshard::io "
                   "need no MPI")
  endif()
endif()

foreach(_rowshard_component IN LISTS rowshard_FIND_COMPONENTS)
  if(NOT _rowshard_component MATCHES "^(engine|sharding|io|mpi)$")
    set(rowshard_${_rowshard_component}_FOUND FALSE)
    string(CONCAT rowshard_NOT_FOUND_MESSAGE
           "'${_rowshard_component}' is not one of its components (engine, sharding, io, mpi)")
  elseif(NOT rowshard_${_rowshard_component}_FOUND)
    string(CONCAT rowshard_NOT_FOUND_MESSAGE
           "component 'mpi' needs MPI (C++), which find_package(MPI COMPONENTS CXX) did not "
           "find (MPI_HOME or MPI_CXX_COMPILER can point at it); rowshard::engine, "
           "rowshard::sharding and rowshard::io need no MPI")
  endif()
  if(NOT rowshard_${_rowshard_component}_FOUND AND rowshard_FIND_REQUIRED_${_rowshard_component})
    set(rowshard_FOUND FALSE)
    unset(_rowshard_component)
    return()
  endif()
endforeach()
unset(_rowshard_component)
unset(rowshard_NOT_FOUND_MESSAGE)
