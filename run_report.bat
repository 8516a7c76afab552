@ECHO OFF
REM WuBuGAADHybridGen - (re)build the offline run report of a run folder (Linux/macOS twin: run_report.sh).
REM
REM Edit the SET lines below, or SET them before calling this file. Further run folders in EXTRA_ARGS
REM make one page that compares them (written to REPORT_FILE, default report_comparison.html at the
REM project root).
REM PYTHON_EXE, EXTRA_ARGS, DRY_RUN, PAUSE_AT_END: as in run_vaegan.bat (a double-clicked launcher waits
REM for a key at the end). Relative paths are relative to the project root.
REM Exit code: draftPY\wubugaad_report.py's (0 written, 2 bad input).

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"

REM RUN_FOLDER: a training run folder (metrics.jsonl, config.json, samples\)
IF NOT DEFINED RUN_FOLDER SET "RUN_FOLDER=runs\wubugaad_run"
REM REPORT_FILE: page to write (empty: RUN_FOLDER\report.html)
IF NOT DEFINED REPORT_FILE SET "REPORT_FILE="

SET "JOB=report"
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

