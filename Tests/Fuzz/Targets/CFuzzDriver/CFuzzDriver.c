// Empty: the declaration in include/CFuzzDriver.h is all; libFuzzer (linked by -sanitize=fuzzer) defines it.
#include "CFuzzDriver.h"
