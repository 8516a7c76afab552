@ECHO OFF
REM WuBuGAADHybridGen - run one benchmark of bench\ (Linux/macOS twin: run_benchmark.sh).
REM
REM BENCHMARK picks bench\bench_BENCHMARK.py: train (step time, memory), quality (prediction against
REM copy-last after a time budget), rollout, mfmnist (Moving Fashion-MNIST), report (report build cost)
REM or vs_v01 (against the v0.1 script; needs EXTRA_ARGS=--v01 PATH). bench\README.md describes each and
REM its flags (put them in EXTRA_ARGS); the results go to the console as JSON lines. Run benchmarks alone
REM on the machine: anything else running skews the times.
REM PYTHON_EXE, EXTRA_ARGS, DRY_RUN, PAUSE_AT_END: as in run_vaegan.bat (a double-clicked launcher waits
REM for a key at the end). Relative paths are relative to the project root.
REM Exit code: the benchmark's; 2 for an unknown BENCHMARK.

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"

IF NOT DEFINED BENCHMARK SET "BENCHMARK=quality"

SET "JOB=benchmark"
CALL "%~dp0draftPY\run_job.bat"
SET "EXIT_CODE=!ERRORLEVEL!"
GOTO :finish

:finish
REM ---- every way out of this file comes here: pause if asked (outermost launcher only), return EXIT_CODE
IF "%LAUNCHER_OUTER%"=="1" CALL :pause_if_asked
IF "%LAUNCHER_PUSHED%"=="1" popd
endlocal & exit /b %EXIT_CODE%

:pause_if_asked
REM PAUSE_AT_END true: always wait for a key; false: never; auto (default): only when this file was
REM double-clicked in Explorer (cmd.exe /c with this file's path) and CI is not set, so that a console,
REM a calling script or CI is never blocked.
setlocal EnableDelayedExpansion
IF "!PAUSE_AT_END!"=="" SET "PAUSE_AT_END=auto"
SET "PAUSE_NOW=false"
IF /I "!PAUSE_AT_END!"=="true" SET "PAUSE_NOW=true"
SET "CMDLINE=!CMDCMDLINE!"
IF /I "!PAUSE_AT_END!"=="auto" IF NOT DEFINED CI IF /I NOT "!CMDLINE:/c =!"=="!CMDLINE!" IF /I NOT "!CMDLINE:%THIS_FILE%=!"=="!CMDLINE!" SET "PAUSE_NOW=true"
IF "!PAUSE_NOW!"=="true" PAUSE
endlocal
GOTO :EOF

