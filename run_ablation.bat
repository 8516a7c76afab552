@ECHO OFF
REM WuBuGAADHybridGen - an ablation study: every variant of a preset x several seeds (Linux/macOS twin: run_ablation.sh).
REM
REM One training per variant and seed; TRAINING_GUIDE.md ("Ablation studies") explains the presets and
REM the outputs (ablation.csv, ablation.md, ablation.png in OUT). Rerunning the same settings continues
REM a study. Edit the SET lines below, or SET them before calling this file. EXTRA_ARGS is the base
REM training configuration every variant starts from (training flags; empty: the quick demo's).
REM PYTHON_EXE, EXTRA_ARGS, DRY_RUN, PAUSE_AT_END: as in run_vaegan.bat (a double-clicked launcher waits
REM for a key at the end). Relative paths are relative to the project root.
REM Exit code: draftPY\wubugaad_ablate.py's (0 every run finished, 2 bad input, 130 interrupted).

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"

REM GRID: preset (wubu, gaad, motion, generator, optimizer, all) or a JSON/YAML file of variants
IF NOT DEFINED GRID SET "GRID=wubu"
IF NOT DEFINED SEEDS SET "SEEDS=3"
REM MAX_STEPS: optimizer steps per run; MINUTES above 0 instead gives the base's first seed that budget
IF NOT DEFINED MAX_STEPS SET "MAX_STEPS=600"
IF NOT DEFINED MINUTES SET "MINUTES=0"
REM EQUAL_TIME: true: with MINUTES, every run trains that long (else every run gets the same steps)
IF NOT DEFINED EQUAL_TIME SET "EQUAL_TIME=false"
REM JOBS: runs at once (the CPU threads are split between them)
IF NOT DEFINED JOBS SET "JOBS=1"
IF NOT DEFINED OUT SET "OUT=runs\ablation_wubu"
REM RETRY_FAILED: true: rerun the runs that finished with an error
IF NOT DEFINED RETRY_FAILED SET "RETRY_FAILED=false"

SET "JOB=ablation"
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

