@ECHO OFF
REM Phase 3 - discriminator GAAD-FiLM on (new D layers: non-strict load), lambda_kl 1e-1.
REM Starts from phase2c's best checkpoint (RUN_DIR\phase2c) unless LOAD_CHECKPOINT is set.
REM Writes RUN_DIR\phase3 (RUN_DIR default: runs\wubugaad_run). Edit the SET lines below, or any SET
REM line of run_vaegan.bat; EPOCHS is absolute (the epoch count continues across phases).
REM See TRAINING_GUIDE.md.

setlocal EnableExtensions
IF NOT DEFINED RUN_DIR SET "RUN_DIR=%~dp0..\runs\wubugaad_run"
IF NOT DEFINED LAMBDA_KL SET "LAMBDA_KL=1e-1"
IF NOT DEFINED DISC_USE_GAAD_FILM_CONDITION SET "DISC_USE_GAAD_FILM_CONDITION=true"
IF NOT DEFINED LOAD_STRICT SET "LOAD_STRICT=false"
IF NOT DEFINED EPOCHS SET "EPOCHS=130"
CALL "%~dp0run_phase.bat" phase3 phase2c phase2c_kl_1e-1.bat
endlocal & exit /b %ERRORLEVEL%
