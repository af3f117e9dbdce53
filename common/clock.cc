#include "common/clock.h"

namespace magic {

Clock& RealClockInstance() {
  static RealClock clock;
  return clock;
}

}  // namespace magic
