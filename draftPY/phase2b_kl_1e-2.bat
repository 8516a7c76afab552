@ECHO OFF
REM Phase 2b - KL ramp, step 2: lambda_kl 1e-2, D-FiLM off.
REM Starts from phase2a's best checkpoint (RUN_DIR\phase2a) unless LOAD_CHECKPOINT is set.
REM Writes RUN_DIR\phase2b (RUN_DIR default: runs\wubugaad_run). Edit the SET lines below, or any SET
REM line of run_vaegan.bat; EPOCHS is absolute (the epoch count continues across phases).
REM See TRAINING_GUIDE.md.

setlocal EnableExtensions
IF NOT DEFINED RUN_DIR SET "RUN_DIR=%~dp0..\runs\wubugaad_run"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-2"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=false"
IF NOT DEFINED EPOCHS SET "EPOCHS=80"
CALL "%~dp0run_phase.bat" phase2b phase2a phase2a_kl_1e-3.bat
endlocal & exit /b %ERRORLEVEL%
