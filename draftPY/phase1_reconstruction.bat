@ECHO OFF
REM Phase 1 - reconstruction: lambda_kl 1e-4 (the KL barely acts), D-FiLM off.
REM Starts fresh unless LOAD_CHECKPOINT is set.
REM Writes RUN_DIR\phase1 (RUN_DIR default: runs\wubugaad_run). Edit the SET lines below, or any SET
REM line of run_vaegan.bat; EPOCHS is absolute (the epoch count continues across phases).
REM See TRAINING_GUIDE.md.

setlocal EnableExtensions
IF NOT DEFINED RUN_DIR SET "RUN_DIR=%~dp0..\runs\wubugaad_run"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-4"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=false"
IF NOT DEFINED EPOCHS SET "EPOCHS=40"
CALL "%~dp0run_phase.bat" phase1
endlocal & exit /b %ERRORLEVEL%
