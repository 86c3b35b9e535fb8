// Mocha reporter: the usual spec output, plus the tier's counts appended to
// $BULKHEAD_TEST_COUNTS so `make test` can print one closing "N passed, N failed" line.
"use strict";
const fs = require("node:fs");
const Mocha = require("mocha");

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.BULKHEAD_TEST_COUNTS;
      if (!file) return;
      const { passes, failures, pending } = this.stats;
      fs.appendFileSync(file, `${passes} ${failures} ${pending}\n`);
    });
  }
}
module.exports = SummaryReporter;
