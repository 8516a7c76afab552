@ECHO OFF
REM WuBuGAADHybridGen - samples from a trained checkpoint (Linux/macOS twin: run_sample.sh).
REM
REM Edit the SET lines below, or SET them before calling this file. Writes {MODE}_grid.png and
REM {MODE}.{FORMAT} into OUTPUT_DIR.
REM PYTHON_EXE, EXTRA_ARGS, DRY_RUN, PAUSE_AT_END: as in run_vaegan.bat (a double-clicked launcher waits
REM for a key at the end). Relative paths are relative to the project root.
REM Exit code: draftPY\wubugaad_sample.py's (0 done, 2 bad input, 5 a file could not be written).

setlocal EnableExtensions EnableDelayedExpansion
SET "THIS_FILE=%~f0"
SET "LAUNCHER_OUTER=0"
IF NOT DEFINED WUBUGAAD_LAUNCHER_RUNNING SET "LAUNCHER_OUTER=1"
SET "WUBUGAAD_LAUNCHER_RUNNING=1"
SET "LAUNCHER_PUSHED=0"
SET "EXIT_CODE=1"

REM CHECKPOINT: the .pt file the trainer wrote (default: the best one of run_vaegan.bat's default run)
IF NOT DEFINED CHECKPOINT SET "CHECKPOINT=runs\wubugaad_run\wubugaad_hybridgen_ckpt_v01_best.pt"
REM MODE: predict (continue VIDEO's clips), generate (NUM_SAMPLES futures of each context) or reconstruct
IF NOT DEFINED MODE SET "MODE=predict"
REM VIDEO: video file or folder whose clips give the context (default: run_vaegan.bat's demo video)
IF NOT DEFINED VIDEO SET "VIDEO=data\demo_video_data_dir"
REM NUM_SAMPLES: generate: futures per context; predict/reconstruct: clips (unless NUM_CLIPS is set)
IF NOT DEFINED NUM_SAMPLES SET "NUM_SAMPLES=4"
REM NUM_CLIPS: contexts taken from VIDEO (empty: 2 in generate, else NUM_SAMPLES)
IF NOT DEFINED NUM_CLIPS SET "NUM_CLIPS="
REM NUM_FRAMES: future frames per sample (empty: the model's; more rolls out past its horizon)
IF NOT DEFINED NUM_FRAMES SET "NUM_FRAMES="
IF NOT DEFINED OUTPUT_DIR SET "OUTPUT_DIR=runs\samples"
REM FORMAT: mp4, gif or png
IF NOT DEFINED FORMAT SET "FORMAT=mp4"
IF NOT DEFINED SEED SET "SEED=0"
REM DEVICE: torch device (empty: cuda when available, else cpu)
IF NOT DEFINED DEVICE SET "DEVICE="

SET "JOB=sample"
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

