// Open MPI for the optional data-parallel build (LEANDPO_MPI=1). MPI's handles are macros that Swift
// cannot import, so they are wrapped in functions.
#include <mpi.h>

static inline MPI_Comm leandpo_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype leandpo_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype leandpo_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype leandpo_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Errhandler leandpo_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Status *leandpo_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
