@ECHO OFF
REM Phase 2c - KL ramp, step 3: lambda_kl 1e-1, D-FiLM off.
REM Starts from phase2b's best checkpoint (RUN_DIR\phase2b); writes RUN_DIR\phase2c.
REM
REM Where to set what:
REM   - RUN_DIR, LOAD_CHECKPOINT, CHECKPOINT_OUTPUT_DIR: on their lines below, in this file. The phase
REM     chain sets the last two itself, so setting them in run_vaegan.bat has no effect on a phase.
REM   - this phase's own settings: the SET lines below;
REM   - everything else: any other SET line of run_vaegan.bat (or SET it before calling this file).
REM Relative paths are relative to the project root. EPOCHS is absolute (the epoch count continues
REM across phases). PAUSE_AT_END as in run_vaegan.bat. See TRAINING_GUIDE.md.

setlocal EnableExtensions
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"

REM ---- where this phase reads and writes (empty: the default)
REM RUN_DIR: the run folder holding one sub-folder per phase (default runs\wubugaad_run)
IF NOT DEFINED RUN_DIR SET "RUN_DIR="
REM LOAD_CHECKPOINT: start from this checkpoint instead of phase2b's best (auto: the newest in
REM CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
IF NOT DEFINED LOAD_CHECKPOINT SET "LOAD_CHECKPOINT="
REM CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR\phase2c)
IF NOT DEFINED CHECKPOINT_OUTPUT_DIR SET "CHECKPOINT_OUTPUT_DIR="
REM ---- this phase's settings
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-1"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=false"
IF NOT DEFINED EPOCHS SET "EPOCHS=100"
CALL "%~dp0run_phase.bat" phase2c_kl_1e-1.bat phase2c phase2b phase2b_kl_1e-2.bat
SET "EXIT_CODE=%ERRORLEVEL%"
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
