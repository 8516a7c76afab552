@ECHO OFF
REM Phase 2c - KL ramp, step 3: lambda_kl 1e-1, D-FiLM off.
REM Starts from phase2b's best checkpoint (RUN_DIR\phase2b) unless LOAD_CHECKPOINT is set.
REM Writes RUN_DIR\phase2c (RUN_DIR default: runs\wubugaad_run). Edit the SET lines below, or any SET
REM line of run_vaegan.bat; EPOCHS is absolute (the epoch count continues across phases).
REM See TRAINING_GUIDE.md.

setlocal EnableExtensions
IF NOT DEFINED RUN_DIR SET "RUN_DIR=%~dp0..\runs\wubugaad_run"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-1"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=false"
IF NOT DEFINED EPOCHS SET "EPOCHS=100"
CALL "%~dp0run_phase.bat" phase2c phase2b phase2b_kl_1e-2.bat
endlocal & exit /b %ERRORLEVEL%
