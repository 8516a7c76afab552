@ECHO OFF
REM Phase 4 - fine-tune: lower learning rates (G 5e-5, D 2e-5), a stronger adversarial term
REM (lambda_gan 0.2, twice the master's: with reconstruction and KL settled, the discriminator
REM sharpens detail; a starting point, not a measured optimum), D-FiLM on, lambda_kl 1e-1.
REM Starts from phase3's best checkpoint (RUN_DIR\phase3); writes RUN_DIR\phase4.
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
REM LOAD_CHECKPOINT: start from this checkpoint instead of phase3's best (auto: the newest in
REM CHECKPOINT_OUTPUT_DIR, i.e. resume this phase)
IF NOT DEFINED LOAD_CHECKPOINT SET "LOAD_CHECKPOINT="
REM CHECKPOINT_OUTPUT_DIR: where this phase writes (default RUN_DIR\phase4)
IF NOT DEFINED CHECKPOINT_OUTPUT_DIR SET "CHECKPOINT_OUTPUT_DIR="
REM ---- this phase's settings
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-1"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=true"
IF NOT DEFINED LEARNING_RATE_GEN SET "LEARNING_RATE_GEN=5e-5"
IF NOT DEFINED LEARNING_RATE_DISC SET "LEARNING_RATE_DISC=2e-5"
IF NOT DEFINED LAMBDA_GAN SET "LAMBDA_GAN=0.2"
IF NOT DEFINED EPOCHS SET "EPOCHS=150"
CALL "%~dp0run_phase.bat" phase4_finetune.bat phase4 phase3 phase3_disc_film.bat
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
