# Mirrors src_c/fnn_cpu.h
cdef extern from "fnn_cpu.h" nogil:
    enum:
        FNN_ISA_GENERIC
        FNN_ISA_AVX2
        FNN_ISA_AVX512
    enum:
        FNN_CPU_SSE2
        FNN_CPU_AVX
        FNN_CPU_AVX2
        FNN_CPU_FMA
        FNN_CPU_AVX512F
        FNN_CPU_AVX512BW
        FNN_CPU_AVX512DQ
        FNN_CPU_AVX512VL
    int fnn_cpu_features()
    int fnn_isa_supported(int isa)
    int fnn_isa_best()
    int fnn_set_isa(int isa)
    int fnn_get_isa()
    const char *fnn_isa_name(int isa)
    int fnn_openmp_enabled()
    int fnn_omp_max_threads()
    const char *fnn_compiler_info()
